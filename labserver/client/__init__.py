"""The one API client every component imports: REST calls, informers, label selectors (client-go, small).

The kubelet, the scheduler and the controllers never import each other; they
all talk to the API server through this package, which imports none of them.
"""
from .informer import Informer, object_key
from .labels import selector_matches, selector_string
from .rest import APIClient, APIStatusError, APIUnavailable, parse_servers, server_from_kubeconfig

__all__ = ["APIClient", "APIStatusError", "APIUnavailable", "Informer", "object_key", "parse_servers",
           "selector_matches", "selector_string", "server_from_kubeconfig"]
