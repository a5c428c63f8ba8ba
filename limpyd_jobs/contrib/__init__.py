"""Optional integrations of limpyd-jobs with other frameworks (``limpyd_jobs.contrib.django``)."""
