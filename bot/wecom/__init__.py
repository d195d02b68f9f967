"""The WeCom (企业微信) adapter: every wechatpy import lives in this package."""
