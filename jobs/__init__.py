"""RQ job functions. Each takes ids, reloads rows, calls services, commits, and can run twice."""
