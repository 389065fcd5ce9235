"""The load-test bot swarm and the capacity planner."""
