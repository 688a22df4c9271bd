from django.apps import AppConfig


class ReportingConfig(AppConfig):
    name = "reporting"
    verbose_name = "EU reporting"

    def ready(self):
        # Reuse queries (registry) default to the site's latest computed PUE; registry cannot
        # import reporting, so reporting registers itself as the provider.
        from registry.reuse import PUE_PROVIDERS, register_pue_provider
        from reporting.rollups import connect_signals
        from reporting.selectors import latest_site_pue

        if latest_site_pue not in PUE_PROVIDERS:
            register_pue_provider(latest_site_pue)

        connect_signals()  # a site's time zone change moves its rollups' day boundaries

        from registry.models import SITE_CHECKS
        from reporting.rollups import site_time_zone_problems

        if site_time_zone_problems not in SITE_CHECKS:
            SITE_CHECKS.append(site_time_zone_problems)
