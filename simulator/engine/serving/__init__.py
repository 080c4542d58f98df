"""Serving: replicas with continuous batching, routers, autoscaling, failover, and a service inside a run."""
