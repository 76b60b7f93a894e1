"""Custom actions of the helpline assistant (rasa_sdk registers every Action subclass here)."""
