"""Ways back that several target kinds share (plain functions, no protocol): CodeDeploy stop with
rollback (``codedeploy``) and ALB weights (``alb``). A kind calls them; they know no kind."""
