"""What tests share: brokers, databases, lab loops."""
