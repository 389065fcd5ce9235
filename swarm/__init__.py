"""The load-test bot swarm and the capacity planner.

Modules (pure decisions apart from the I/O layers named as such):

- ``config``: :class:`~swarm.config.SwarmConfig`, the settings of one run;
  ``settings``: every limit, with its source (AWS quotas, Kinesis limits);
- ``ramp``, ``behaviour``: the connect schedule and what bots send (pure);
- ``stats``: HDR histograms and counters, encoded to cross processes and merged (pure);
- ``bot``, ``fleet``, ``runner``, ``tokens``: the I/O: one bot's socket, the bots of one
  process, the process fan-out and merge, where tokens come from;
- ``report``, ``html``, ``display``, ``metering``: the JSON report, the self-contained
  HTML page, the interval lines, the AWS bill and quota view;
- ``planner``, ``prices``: ``tickwire plan``'s arithmetic and the dated price table.

Errors: :mod:`swarm.errors` (root :class:`~swarm.errors.SwarmError`).
"""
