"""wsagent harness: records WebSocket sessions with an agent-events backend and judges them against the contract."""
