from django.apps import AppConfig


class ConnectorsConfig(AppConfig):
    name = "connectors"
    verbose_name = "Connectors"

    def ready(self):
        # Pulls follow the common job lifecycle (claims, heartbeat, the reaper, retries).
        from connectors.pulls import PULL
        from reporting import jobs

        jobs.register(PULL)
