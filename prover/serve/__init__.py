"""`obrain serve`: an OpenAI-compatible HTTP API whose every answer is a traced run with a receipt.

openai_api (request bodies -> jobs), worker (the one engine thread and its queue), app (Starlette routes and
server-sent events), submitter (`--submit`: claims posted and defended off the request path).
"""
