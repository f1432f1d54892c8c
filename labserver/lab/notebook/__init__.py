"""What the notebooks touch: `Lab` (lab.py) and what it is made of - curl lines, kubectl, pictures, manifests."""
