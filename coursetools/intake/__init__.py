"""How submissions come in: LMS downloads and the nbgrader exchange (`make collect`).

One job per module:
- ``settings``: the limits and clocks of collecting (``c.Intake`` in nbgrader_config.py);
- ``unpack``: a download (zip or folder) -> flat staged notebooks, refusing what is unsafe;
- ``lms``: each LMS's file names -> (LMS user, time, attempt) per notebook;
- ``roster``: the course roster (ROSTER=roster.csv) and LMS id -> student id;
- ``identify``: is this notebook really this assignment's, and which of its notebooks?
- ``attribution``: one submission per student (the latest wins), or a refusal naming why;
- ``filing``: into submitted/<student>/<assignment>/, never overwriting (submitted/.history/);
- ``exchange``: the nbgrader exchange (publish, collect, return feedback).
"""
