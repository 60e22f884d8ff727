"""Operator tools: RabbitMQ definitions for deployment, broker inspection (queue
depths, consumers, rates), and later ``status`` and ``dlq``."""
