"""rollbackctl: the one domain package.

Every Lambda function, the CLI and the emulator glue import this package. Where things live:

- ``events``   where an EventBridge event enters: parse and validate it into a Trigger
- ``targets``  which deployed target an alarm guards (the target-mapping contract)
- ``triage``   where the decision is made: act / ignore / dry-run / refuse, with the reason
- ``restore``  where AWS is changed: put traffic back on the known-good version
- ``notify``   the one message per incident
- ``store``    the incident record and the known-good ledger (DynamoDB)
- ``aws``      boto3 clients, created once per container, retry mode set explicitly
- ``emulator`` the embedded AWS (moto) used by the CLI and the tests; never imported by Lambda code
"""

__version__ = "0.1.0"
