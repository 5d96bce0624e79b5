"""A plant's Modbus TCP server for the gateway's test and benchmark (pymodbus 3.16, PyPI).

Usage: python3 modbus_server.py PORT [COUNTERS]

Answers every unit id. Every 100 ms:
  holding 0      1000 + (n % 100)        (a pressure in tenths of a bar)
  holding 2..3   -70000 as 32 bits, high word first
  input 1        n (a counter)
  holding 10+i   (n + i) mod 65536, for i in 0 .. COUNTERS (default 0)
Holding registers 4..9 are zero; reading past the last is an exception (0x02).
"""
import asyncio
import sys

from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

HOLDING, INPUT = 3, 4


async def main(port: int, counters: int) -> None:
    bits = [SimData(0, count=16, values=False, datatype=DataType.BITS)]
    device = SimDevice(
        id=0,
        simdata=(
            bits,
            bits,
            [SimData(0, count=10 + counters, values=0, datatype=DataType.REGISTERS)],
            [SimData(0, count=10, values=0, datatype=DataType.REGISTERS)],
        ),
    )
    server = ModbusTcpServer(device, address=("127.0.0.1", port))
    minus_70000 = (-70000) & 0xFFFFFFFF

    async def update() -> None:
        n = 0
        while True:
            await server.async_setValues(0, HOLDING, 0, [1000 + n % 100])
            await server.async_setValues(0, HOLDING, 2, [minus_70000 >> 16, minus_70000 & 0xFFFF])
            await server.async_setValues(0, INPUT, 1, [n & 0xFFFF])
            if counters:
                await server.async_setValues(
                    0, HOLDING, 10, [(n + i) & 0xFFFF for i in range(counters)]
                )
            n += 1
            await asyncio.sleep(0.1)

    task = asyncio.create_task(update())
    print("ready", flush=True)
    await server.serve_forever()
    task.cancel()


asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 0))
