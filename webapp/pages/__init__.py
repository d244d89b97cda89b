"""The HTML side: the call page, the embeds for other sites and signed sales-demo links."""
