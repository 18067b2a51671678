from django.core.management.base import BaseCommand

from labelstudio_emo.celery import app


class Command(BaseCommand):
    help = ("Declare the io and gpu queues on the broker once, at set-up time. On the embedded "
            "SQLAlchemy broker a worker and a web process declaring the same queue at the same "
            "moment can collide; declaring them here first removes that race.")

    def handle(self, **options):
        with app.connection_for_write() as connection:
            channel = connection.default_channel
            for queue in app.conf.task_queues:
                queue(channel).declare()
        self.stdout.write("broker queues ready: " + ", ".join(q.name for q in app.conf.task_queues))
