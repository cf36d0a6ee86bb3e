"""Persistence of users, tokens, Spaces, builds, share links, secrets and variables.

``db = Database(settings); db.migrate()`` once per process, then the functions of the
noun modules inside ``with db.session() as session:``.
"""

from .builds import (
    create_build,
    find_build,
    get_build,
    latest_build,
    list_builds,
    mark_finished,
    mark_started,
)
from .db import Database
from .likes import liked_spaces, likers, likes_of, set_like
from .models import (
    ApiToken,
    Base,
    Build,
    Like,
    Secret,
    ShareLink,
    Space,
    TokenScope,
    User,
    Variable,
    utcnow,
)
from .secrets import (
    Cipher,
    delete_secret,
    delete_variable,
    list_secret_keys,
    list_variables,
    secret_values,
    set_secret,
    set_variable,
    validate_env_key,
)
from .shares import create_share_link, list_share_links, revoke_share_link, use_share_link
from .spaces import (
    create_space,
    delete_space,
    find_space,
    get_space,
    list_spaces,
    set_stage,
    update_space,
)
from .users import (
    authenticate,
    create_token,
    create_user,
    ensure_admin,
    find_user,
    get_user,
    list_tokens,
    revoke_token,
    set_disabled,
    set_password,
    verify_token,
)

__all__ = [
    "ApiToken", "Base", "Build", "Cipher", "Database", "Secret", "ShareLink", "Space",
    "TokenScope", "User", "Variable", "authenticate", "create_build", "create_share_link",
    "create_space", "create_token", "create_user", "delete_secret", "delete_space",
    "delete_variable", "ensure_admin", "find_build", "find_space",
    "find_user", "get_build", "get_space", "get_user", "latest_build", "Like", "liked_spaces",
    "likers", "likes_of", "list_builds",
    "list_secret_keys", "list_share_links", "list_spaces", "list_tokens", "list_variables",
    "mark_finished", "mark_started", "revoke_share_link", "set_like",
    "revoke_token", "secret_values", "set_disabled", "set_password", "set_secret", "set_stage",
    "set_variable", "update_space", "use_share_link", "utcnow", "validate_env_key",
    "verify_token",
]
