"""labserver: a small, readable Kubernetes API server and kubelet for the workbook.

Layout follows Kubernetes itself:
  apiserver/  the API server (handlers per verb, strategies per resource, storage on etcd)
  kubelet/    the node agent (registration, pod source, pod sync, container runtimes)
  lab/        what the notebooks and tests call to start, wait for and stop the pieces
"""
