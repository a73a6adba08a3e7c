"""The RobustProducer's machinery; :mod:`hop.robust_publisher` is its public face.

One module per role, data flowing one way (writer -> journal -> sender -> Kafka):

``format``
    The journal's record format: encoding, scanning, salvage (pure, no I/O).
``file``
    The journal file: creation (0600), locking, appending, group commit, compaction.
``upstream``
    Reading upstream hop-client journals, to migrate them.
``salvage``
    Copying what a damaged or upstream journal holds into a new one.
``journal``
    :class:`PublicationJournal`: which messages are queued, in flight or done.
``backend``
    :class:`ProducerBackend`, what the sender needs from a Kafka producer.
``sender``
    :class:`Sender`, the thread that hands journaled messages to Kafka and applies
    the delivery reports.
"""
