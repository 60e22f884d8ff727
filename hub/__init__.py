"""minwon-hub: the notification hub between Korean civil-complaint (민원) systems and
citizens' phones. Case events in (CloudEvents on RabbitMQ), SMS / e-mail / push out."""

__version__ = "0.1.0"
