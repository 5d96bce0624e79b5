"""A plant's OPC UA server for the gateway's test and benchmark (asyncua, PyPI).

Usage: python3 opcua_server.py PORT [VARIABLES]

Serves opc.tcp://127.0.0.1:PORT/ without security (anonymous). Every 100 ms:
  ns=2;s=Temperature  Double  20.0 + 0.25 * (n % 10)
  ns=2;i=2            Double  1.5 (constant)
  ns=2;s=Running      Boolean true
  ns=2;s=V<i>         Double  n + i / 1000, for i in 0 .. VARIABLES (default 0)
"""
import asyncio
import sys

from asyncua import Server, ua


async def main(port: int, variables: int) -> None:
    server = Server()
    await server.init()
    server.set_endpoint(f"opc.tcp://127.0.0.1:{port}/")
    server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
    ns = await server.register_namespace("urn:ingot:test-plant")
    assert ns == 2, ns  # the node ids in the gateway's plant file say ns=2
    objects = server.nodes.objects
    temperature = await objects.add_variable(
        ua.NodeId("Temperature", ns), f"{ns}:Temperature", 20.0, ua.VariantType.Double
    )
    await objects.add_variable(ua.NodeId(2, ns), f"{ns}:Pressure", 1.5, ua.VariantType.Double)
    await objects.add_variable(
        ua.NodeId("Running", ns), f"{ns}:Running", True, ua.VariantType.Boolean
    )
    extra = [
        await objects.add_variable(ua.NodeId(f"V{i}", ns), f"{ns}:V{i}", 0.0, ua.VariantType.Double)
        for i in range(variables)
    ]
    async with server:
        print("ready", flush=True)
        n = 0
        while True:
            await temperature.write_value(ua.Variant(20.0 + 0.25 * (n % 10), ua.VariantType.Double))
            for i, node in enumerate(extra):
                await node.write_value(ua.Variant(n + i / 1000, ua.VariantType.Double))
            n += 1
            await asyncio.sleep(0.1)


asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 0))
