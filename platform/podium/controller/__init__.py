"""The controller: glue between the edges (API, git hooks, build jobs) and the components.

It is the only place that knows the store AND the scheduler, so the scheduler never touches
the store and the build worker never starts containers itself: a finished build leaves a
deploy request that the scheduler process's ``deployer`` runs through ``deploy`` here
(with that process's one ``Platform``); the git hook calls ``on_push`` (through
Settings.push_handler).
"""
