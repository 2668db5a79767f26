"""The neutral protocol between the engine, the vendor codecs and the cloud: message classes
(:mod:`.messages`), the codec interfaces (:mod:`.codec`), guarded JSON (:mod:`.jsonwire`) and MQTT
topic matching (:mod:`.topics`). Nothing here knows a vendor or opens a socket."""
