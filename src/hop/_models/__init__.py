"""Implementation of :mod:`hop.models`, one module per family of formats.

``base`` holds the model protocol and the simple models, ``voevent`` the VOEvent XML
reader and writer, ``gcn`` the GCN circular and text notice parsers, ``avro`` the Avro
container model and its schema inference. Users import from :mod:`hop.models`.
"""
