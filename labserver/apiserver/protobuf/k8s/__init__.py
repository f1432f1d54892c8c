"""Our .proto files for the Kubernetes messages we serve, and the *_pb2 modules protoc made from them.

Edit the .proto files, then run `make protobuf`; never edit a *_pb2.py by hand.
"""
