from django.apps import AppConfig


class ConnectorsConfig(AppConfig):
    name = "connectors"
    verbose_name = "Connectors"

    def ready(self):
        # Pulls follow the common job lifecycle (claims, heartbeat, the reaper, retries).
        from circulus import jobs
        from connectors.pulls import PULL

        jobs.register(PULL)

        # `make demo` shows a Redfish and a Prometheus source (reporting runs the demo).
        from connectors.demo import STEP
        from reporting.demo import DEMO_STEPS

        if STEP not in DEMO_STEPS:
            DEMO_STEPS.append(STEP)
