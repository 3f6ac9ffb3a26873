"""The console's screens, one module per family (as Zulip keeps ``zerver/views/``), with their
templates under ``templates/console/<family>/``:

* :mod:`.auth` — signing in, the second factor, the overview;
* :mod:`.queue` — the queue and a conversation; :mod:`.calls` — the phone script;
* :mod:`.cases` — case lists, a new application, the case page and its steps, search;
* :mod:`.verification` — the verifier's queue; :mod:`.operations` — the liaison's list;
* :mod:`.exchanges`; :mod:`.staff`; :mod:`.audit`; :mod:`.canned` — canned answers;
  :mod:`.failures` — messages a channel would not take.

Every screen is behind :func:`lifeline.console.decorators.role_required`, which hands the view
the signed-in staff member as ``actor``; the services check again."""
