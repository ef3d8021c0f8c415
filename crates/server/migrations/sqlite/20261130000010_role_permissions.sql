-- Role management is its own permission (Intune's Roles category): organization.update no longer
-- lets a user make or assign roles. Only Intune Administrator holds it by default.
UPDATE role_definitions
   SET permissions = permissions || ' roles.read roles.update',
       description = 'Everything: devices, remote tasks, connectors and onboarding, offboarding, audit logs, roles and their assignment.'
 WHERE id = 'intune-administrator';
