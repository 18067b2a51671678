"""Many annotators asking the queue at once, on a real file database.

Run as a script (the pytest in-memory SQLite cannot take concurrent writers):
    DATABASE_URL=sqlite:////tmp/x/db.sqlite3 LSE_VAR_DIR=/tmp/x python -m tests.annotation_concurrency USERS SEGMENTS
Prints one JSON line: labels per segment, assignments per (user, segment), errors.
Also importable: `hammer(users, rounds)` runs the threads against the current database.
"""

import json
import os
import sys
import threading
from collections import Counter


def hammer(users, rounds: int = 50) -> dict:
    from django.db import connection

    from annotation import queue, services
    from annotation.models import Assignment, Label

    errors: list[str] = []
    barrier = threading.Barrier(len(users))

    def work(user):
        try:
            barrier.wait()
            for _ in range(rounds):
                assignment = queue.next_assignment(user)
                if assignment is None:
                    break
                values = services.LabelValues("happy", 0.1, 0.2)
                services.save_label(user, values, assignment_id=assignment.pk)
                services.save_label(user, values, assignment_id=assignment.pk)  # a retry changes nothing
        except Exception as exc:  # noqa: BLE001 - reported to the caller
            errors.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    per_segment = Counter(Label.objects.values_list("segment_id", flat=True))
    per_pair = Counter(Assignment.objects.values_list("annotator_id", "segment_id"))
    return {"labels_per_segment": {str(k): v for k, v in per_segment.items()},
            "max_assignments_per_pair": max(per_pair.values(), default=0),
            "labels": sum(per_segment.values()), "errors": errors}


def main(n_users: int, n_segments: int) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labelstudio_emo.settings")
    import django
    django.setup()
    from django.contrib.auth.models import Group, User
    from django.core.management import call_command

    from tests.annotation_factories import make_segments, make_video

    call_command("migrate", verbosity=0, interactive=False)
    make_segments(make_video(), n_segments)
    group, _ = Group.objects.get_or_create(name="annotators")
    users = []
    for i in range(n_users):
        user = User.objects.create_user(f"hammer{i}", password="x")
        user.groups.add(group)
        users.append(user)
    print(json.dumps(hammer(users)))


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]))
