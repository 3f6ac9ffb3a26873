"""The staff console. Every view here requires a logged-in staff member."""

from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from lifeline.cases.models import Case, CaseStatus


@login_required
def home(request: HttpRequest) -> HttpResponse:
    # Counts only: no personal field is read here.
    counts = dict(Case.objects.values_list("status").annotate(n=Count("pk")).order_by())
    rows = [(status.label, counts.get(status.value, 0)) for status in CaseStatus]
    return render(request, "console/home.html", {"rows": rows})
