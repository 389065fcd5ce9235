"""Player actions into the stream.

- :mod:`ingest.records`: the stream record format (``decode``/``encode``, ``SetAside``);
- :mod:`ingest.stream`: the stream Protocol (implementations: :mod:`infra.local.stream`,
  :mod:`infra.aws.kinesis`); :mod:`ingest.batching`: key-ordered PutRecords retries;
  :mod:`ingest.producer`: a batching producer;
- :mod:`ingest.authorizer`: the $connect JWT authorizer (a Lambda handler);
  :mod:`ingest.tokens`: minting tokens and the local dev secret;
- :mod:`ingest.errors`: the exception tree.
"""
