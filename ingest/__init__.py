"""Player actions into the stream: the record format, the JWT authorizer, the stream interface."""
