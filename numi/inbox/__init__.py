"""E-mail as a numi channel: mail in (SMTP listener, IMAP), threaded onto tickets, answered in thread."""
