"""Schema checks: the generic descriptor walk (typed views + problems), then each family's rule table."""
