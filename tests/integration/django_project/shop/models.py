from django.db import models


class Order(models.Model):
    number = models.CharField(max_length=40, unique=True)
    amount = models.FloatField()

    class Meta:
        app_label = "shop"
