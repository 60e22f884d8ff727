"""Operator tools: ``minwon-hub status`` and ``minwon-hub dlq`` (:mod:`hub.admin.cli`),
broker inspection (queue depths, consumers, rates: :mod:`hub.admin.rabbit`), and the
RabbitMQ definitions and kustomize lists for deployment."""
