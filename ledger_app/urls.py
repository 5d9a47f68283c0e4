"""/api/ledger/ routes."""

from django.urls import path

from ledger_app import api

app_name = "ledger"

urlpatterns = [
    path("blocks/", api.BlockList.as_view(), name="blocks"),
    path("transactions/", api.TransactionList.as_view(), name="transactions"),
    path("export/", api.Export.as_view(), name="export"),
    path("status/", api.Status.as_view(), name="status"),
    path("verify/", api.Verify.as_view(), name="verify"),
    path("wallet/", api.Wallet.as_view(), name="wallet"),
    path("transfer/", api.Transfer.as_view(), name="transfer"),
    path("chain/", api.ChainPage.as_view(), name="chain"),
    path("blobs/<str:h>/", api.BlobView.as_view(), name="blob"),
    path("<str:ref>/", api.ByHash.as_view(), name="by-hash"),
]
