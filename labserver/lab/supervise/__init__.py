"""Process supervision: start etcd, the API server and the kubelet, find them again from `.lab/`, stop them."""
