"""The catalog (`FIREBELL_CONFIG`): its model, its sections and its checks."""
