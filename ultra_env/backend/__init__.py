"""The backend ultra-env ships: Ultra's job over ultra-env's own provider layer.

One prompt goes to every enabled model at once (local models through Docker Model Runner, cloud
providers, or the mock), the answers come back side by side with each model's numbers, and
every analysis is kept in PostgreSQL. FastAPI + uvicorn, as Ultra itself uses; configured by the
environment that ultra-env renders (``settings``); built by Compose from this repository.

- ``settings``: the environment → what is enabled (pure)
- ``targets``: the enabled models as providers, the mock among them
- ``analysis``: one prompt to many models, plain or as a stream of events
- ``store``: analyses in PostgreSQL
- ``probes``: what ``/api/health`` reports
- ``app``: the HTTP API and the page; ``worker``: queued analyses
"""
