"""A patron client in Python, generated from the descriptor set that .ci/proto-check writes.

Usage: python client.py HOST:PORT  (with the generated modules on PYTHONPATH)

Creates a customer with a subject key, reads it back by key, lists it, and checks that a
duplicate key is ALREADY_EXISTS with a google.rpc.Status detail, then exits 0. Any mismatch
raises, so the process exits non-zero.
"""

import sys
import uuid

import grpc

from google.rpc import error_details_pb2, status_pb2
from patron.v1 import customer_pb2, customer_service_pb2, customer_service_pb2_grpc


def main(target: str) -> None:
    with grpc.insecure_channel(target) as channel:
        grpc.channel_ready_future(channel).result(timeout=30)
        customers = customer_service_pb2_grpc.CustomerServiceStub(channel)
        key = f"py-{uuid.uuid4()}"
        created = customers.CreateCustomer(
            customer_service_pb2.CreateCustomerRequest(
                customer=customer_pb2.Customer(
                    key=key,
                    name="ACME from Python",
                    currency="USD",
                    usage_attribution=customer_pb2.CustomerUsageAttribution(
                        subject_keys=[f"{key}-subject"]
                    ),
                    billing_address=customer_pb2.Address(country="US"),
                    metadata={"client": "python"},
                )
            ),
            timeout=10,
        )
        assert created.id and created.etag, created
        assert created.HasField("created_at"), created

        got = customers.GetCustomer(
            customer_service_pb2.GetCustomerRequest(key=key), timeout=10
        )
        assert got.id == created.id, (got, created)
        assert list(got.usage_attribution.subject_keys) == [f"{key}-subject"], got
        assert got.metadata["client"] == "python", got

        page = customers.ListCustomers(
            customer_service_pb2.ListCustomersRequest(key=key), timeout=10
        )
        assert [c.id for c in page.customers] == [created.id], page

        try:
            customers.CreateCustomer(
                customer_service_pb2.CreateCustomerRequest(
                    customer=customer_pb2.Customer(key=key, name="Again", currency="USD")
                ),
                timeout=10,
            )
        except grpc.RpcError as e:
            assert e.code() == grpc.StatusCode.ALREADY_EXISTS, e
            trailers = dict(e.trailing_metadata() or ())
            status = status_pb2.Status.FromString(trailers["grpc-status-details-bin"])
            reasons = []
            for detail in status.details:
                info = error_details_pb2.ErrorInfo()
                if detail.Unpack(info):
                    reasons.append(info.reason)
            assert reasons, status
        else:
            raise AssertionError("a duplicate key was accepted")
    print(f"python client: created, read, listed {created.id}; duplicate key refused ({reasons[0]})")


if __name__ == "__main__":
    main(sys.argv[1])
