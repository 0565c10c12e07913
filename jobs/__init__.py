"""The run layer: what each entry point's run does, between its command line and the models.

    entry point          job                      what it runs
    train_<name>         jobs.training            the one fit-and-log sequence (engine switch:
                                                  one node here, Spark in jobs.spark_engine),
                                                  recorded by jobs.model_record
    tune                 jobs.tuning              hyperopt trials as nested runs, the best
                                                  fitted and recorded as train_<name> does
    register             jobs.registration        the gate (jobs.gate), then registry aliases
    predict              jobs.scoring             batch scoring with pandas or spark_udf
    reproduce            jobs.reproduction        rerun at the recorded commit, compare metrics
    main                 jobs.pipeline            tune or train, then register, as child runs
                                                  (jobs.launcher)

Shared by all of them: ``jobs.cli`` (strict flags, one-line errors, signals) and
``jobs.context`` (the run itself: start or resume, tags, end FINISHED or FAILED). Jobs import
``trainers`` and ``common``, never ``entrypoints``; nothing here ships inside a logged model.
"""
