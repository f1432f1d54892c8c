"""Machine setup: the Docker engine, the images, the Debian packages, and the preflight check."""
