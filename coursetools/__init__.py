"""Instructor tooling for the course: build, release, collect, grade, report.

Everything here runs inside the course's own virtual environment (see the
Makefile) and is driven by ``python -m coursetools <command>``.
"""
