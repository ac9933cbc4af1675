"""Administrative regions: the hierarchy, point look-up (:mod:`api.regions.geo`) and its routes."""
