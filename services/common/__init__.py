"""Helpers the domain packages share: group commit and keyset pagination."""
